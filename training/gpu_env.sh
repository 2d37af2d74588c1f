# Sourced on the GPU machine, where facecodec is not installed: links the repository's
# folders into facecodec/ so that they import as facecodec.*, and sets the environment the
# training runs need. (Only on that machine's copy of the tree; never committed.)
for d in codec transport sender receiver bitrate training benchmark; do ln -sfn "../$d" "facecodec/$d"; done
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0
