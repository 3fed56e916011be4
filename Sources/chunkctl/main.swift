print("chunkctl")
