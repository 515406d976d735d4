"""Transform settings from measurement: profile the real server on a model, choose MaxConcurrentTransforms and
MaxPayloadInMB for an instance type, and price a run."""
