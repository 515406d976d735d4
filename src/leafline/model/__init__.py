"""A model's way to SageMaker: compile model.txt (compiler), pack model.tar.gz (packaging), register it in
the project's model package group and score only approved versions (registry)."""
