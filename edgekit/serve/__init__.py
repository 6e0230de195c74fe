"""A bundle behind an Open Inference Protocol (KServe v2) server, REST and gRPC: ``edgekit serve BUNDLE``.

The stored IR is already a standard model that OpenVINO Model Server runs as it is; this package
serves it where OVMS can't be installed (pip only), with kserve's ``ModelServer``:

* :mod:`edgekit.serve.model`: the kserve model. Requests are checked and decoded into frames, and
  the frames of requests that arrive together are batched into one inference.
* :mod:`edgekit.serve.server`: the server around it. REST binary inputs are kept as bytes (kserve's
  own REST decoder turns them into UTF-8 text). Oversized bodies get a 413, and client errors are
  logged in one line.

Clients: ``edgekit run --server URL`` (:mod:`edgekit.runtime.remote`), tritonclient, Model API's
``OVMSAdapter``. Needs the ``serve`` extra (kserve); never torch, anomalib or nncf.
"""
