"""SageMaker's own shapes, shared by everyone that reads or writes what SageMaker does: the emulator
(leafline.transform), validation, run records, packaging and the dashboard. Standard library only.

Modules, one idea each:
- request: the CreateTransformJob request, parsed and checked as the API checks it;
- storage: file:// and s3:// locations (listing, streaming reads, atomic writes);
- jsonpath: the JSONPath subset DataProcessing's InputFilter and OutputFilter accept.
"""
