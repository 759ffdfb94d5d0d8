"""Tasks built on fusionrec's data, encoders and models: what a person uses it for."""
