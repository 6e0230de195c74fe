"""Export stage (nncf + openvino): fused ensemble IR, INT8 quantization, bundle writer."""
