"""facecodec.codec"""
