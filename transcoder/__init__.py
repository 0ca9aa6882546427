"""TopK transcoders that replace the agent's MLPs."""
