"""storage's services: what views and the API call; they check, record and queue tasks."""
