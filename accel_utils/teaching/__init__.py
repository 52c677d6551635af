"""What the notebooks teach with: exercise checks and their answer keys, and explore widgets."""
