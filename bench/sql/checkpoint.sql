-- Writes out every page the bulk change dirtied, so the samples that follow do not
-- share the disk with the server flushing them in the background.
checkpoint
