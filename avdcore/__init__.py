"""The bottom layer every package may import; imports nothing of ours."""
