"""The zoo's entry list (stdlib only, imported by generate.py and the gen_*.py scripts).

Each entry: name -> (group, small). `group` says which generator script, and so
which virtualenv, builds it:
  torch    gen_torch.py    target/zoo-venv/torch   (torch.onnx, TorchScript and dynamo exporters)
  tf       gen_tf.py       target/zoo-venv/tf      (tf2onnx from Keras / tf.function, and Keras -> OpenVINO IR)
  paddle   gen_paddle.py   target/zoo-venv/paddle  (paddle2onnx)
  packaged gen_packaged.py target/zoo-venv/peers   (ONNX files shipped inside PyPI wheels)
  ov       gen_ov.py       target/zoo-venv/peers   (OpenVINO IR converted from zoo ONNX files; runs last)
`small` marks the CI subset (--small): model file < 2 MB.
"""

ENTRIES = {
    # --- torch.onnx TorchScript exporter (dynamo=False) ---
    "ts_resnet18": ("torch", False),
    "ts_mobilenet_v2": ("torch", False),
    "ts_mobilenet_v3_small": ("torch", False),
    "ts_efficientnet_b0": ("torch", False),
    "ts_regnet_x_400mf": ("torch", False),
    "ts_shufflenet_v2_x0_5": ("torch", True),
    "ts_squeezenet1_0": ("torch", False),
    "ts_convnext_small_cfg": ("torch", False),
    "ts_vit_small_cfg": ("torch", False),
    "ts_swin_small_cfg": ("torch", False),
    "ts_ssdlite320_mobilenet_v3": ("torch", False),
    "ts_lraspp_mobilenet_v3": ("torch", False),
    "ts_lstm_classifier": ("torch", True),
    "ts_gru_tagger": ("torch", True),
    "ts_script_control_flow": ("torch", True),
    "ts_digits_cnn_trained": ("torch", True),
    "ts_bert": ("torch", False),
    "ts_distilbert": ("torch", False),
    "ts_roberta": ("torch", False),
    "ts_gpt2": ("torch", False),
    "ts_gpt2_past": ("torch", False),
    "ts_t5_encoder": ("torch", False),
    "ts_bart": ("torch", False),
    "ts_hf_vit": ("torch", False),
    "ts_whisper_encoder": ("torch", False),
    "ts_clip_text": ("torch", False),
    "ts_clip_vision": ("torch", False),
    "ts_minilm_l6_trained": ("torch", False),
    "ts_timm_mobilevit_xxs": ("torch", False),
    "ts_timm_levit_128s": ("torch", False),
    "ts_timm_fastvit_t8": ("torch", False),
    # --- torch.onnx dynamo exporter (dynamo=True) ---
    "dyn_timm_efficientvit_b0": ("torch", False),
    "dyn_timm_mobilenetv4_conv_small": ("torch", False),
    "dyn_resnet18": ("torch", False),
    "dyn_mobilenet_v3_small": ("torch", False),
    "dyn_efficientnet_b0": ("torch", False),
    "dyn_vit_small_cfg": ("torch", False),
    "dyn_bert": ("torch", False),
    "dyn_gpt2": ("torch", False),
    "dyn_torch_cond": ("torch", True),
    "dyn_minilm_l6_trained": ("torch", False),
    # --- tf2onnx ---
    "tf_mobilenet_v2": ("tf", False),
    "tf_resnet50": ("tf", False),
    "tf_efficientnet_b0": ("tf", False),
    "tf_densenet121": ("tf", False),
    "tf_lstm": ("tf", True),
    "tf_transformer_text": ("tf", False),
    "tf_while_cond": ("tf", True),
    # --- OpenVINO IR ---
    "ov_keras_mobilenet_v2": ("tf", False),
    "ov_resnet18": ("ov", False),
    "ov_bert": ("ov", False),
    "ov_rapidocr_det": ("ov", False),
    # --- paddle2onnx ---
    "pd_mobilenet_v2": ("paddle", False),
    "pd_resnet18": ("paddle", False),
    "pd_shufflenet_v2_x0_25": ("paddle", False),
    # --- ONNX files shipped in PyPI wheels (trained) ---
    "rapidocr_det": ("packaged", False),
    "rapidocr_cls": ("packaged", True),
    "rapidocr_rec": ("packaged", False),
    "silero_vad": ("packaged", False),
    "silero_vad_half": ("packaged", True),
    "magika": ("packaged", False),
    "nudenet_320n": ("packaged", False),
}

GROUP_ORDER = ["torch", "tf", "paddle", "packaged", "ov"]
