"""WeCom channel: self-built app and 微信客服 (``/channels/wecom``)."""
