"""facecodec.transport"""
