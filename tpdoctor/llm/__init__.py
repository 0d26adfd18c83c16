"""What an LLM is and what it needs: the model catalogue and config.json reader, and memory sizing."""
