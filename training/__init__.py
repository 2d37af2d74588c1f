"""facecodec.training"""
