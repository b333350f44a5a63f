"""Dead letters: the source files a sync could not turn into objects after its retries."""
