"""Training: the one loop and its run state, the device feed, DDP, distillation, calibration on
validation, and the CPU thread default.
"""
