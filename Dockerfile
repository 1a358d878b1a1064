# placeholder: replaced by the container work
FROM python:3.12-slim
