"""Support requests (tickets): workflow, thread, attachments, history, search, exports."""
