"""What a cell can be beyond a float32 prefix: precision, PCA, two-stage, and the grid that combines them."""
