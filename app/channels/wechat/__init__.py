"""WeChat Official Account channel (``/channels/wechat``)."""
