"""facecodec.call: the two ends of a call, where sender, codec, transport and receiver meet
(docs/call.md)."""
