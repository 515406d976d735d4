"""Batch Transform without AWS: a CreateTransformJob request run against the real `serve` process.

Modules, one idea each (the request, storage and JSONPath it shares with others are leafline.sagemaker's):
- splitting: input objects into whole-record payloads under MaxPayloadInMB;
- dataprocessing: DataProcessing's InputFilter, JoinSource and OutputFilter;
- invoker: POST /invocations with InvocationsTimeoutInSeconds and InvocationsMaxRetries;
- instances: the emulated instances (one serve process each) and their execution parameters;
- job: the job itself, files spread over instances, ordered atomic .out files, the Describe result;
- progress: the terminal progress line.
"""
