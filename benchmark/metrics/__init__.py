"""Quality metrics of the benchmark, each computed by a model independent of the sender's
MediaPipe prior: dlib landmarks (AKD, AKD-M), dlib face recognition (AED), a FER2013 emotion
network (AEMOD), PSNR, SSIM, and a Fréchet distance on VGG16 features (a labelled stand-in for
FID)."""
