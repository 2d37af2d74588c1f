"""facecodec.bitrate"""
