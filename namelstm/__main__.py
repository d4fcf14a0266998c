from namelstm.cli import main

main()
