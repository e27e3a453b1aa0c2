"""What WeChat Official Accounts and WeCom share: WXBizMsgCrypt, the XML, the outbound API
client and the callback state."""
