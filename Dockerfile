FROM python:3.11-slim-bookworm
RUN apt-get update && apt-get install -y --no-install-recommends \
      fonts-ipaexfont-gothic libharfbuzz-subset0 libpango-1.0-0 libpangoft2-1.0-0 npm \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /srv/kippu
COPY requirements.lock package.json package-lock.json ./
RUN pip install --no-cache-dir --require-hashes -r requirements.lock && npm ci --no-audit --no-fund
COPY . .
RUN pip install --no-cache-dir --no-deps -e . \
    && pybabel compile -l ja -i app/locales/ja/LC_MESSAGES/messages.po -o app/locales/ja/LC_MESSAGES/messages.mo
EXPOSE 8000
