"""compute's services: what views, the API and consumers call; they check, record and queue tasks."""
