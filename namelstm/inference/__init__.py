"""Using a trained model: the Predictor, whole files, and the HTTP server with its page."""
