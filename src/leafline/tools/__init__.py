"""Tools around leafline that a scoring night does not run: building and running the image here (image)
and the demo night on this machine (demo)."""
