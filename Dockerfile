# strata container image. Mirrors the README: Debian 12 packages, CMake build,
# then a slim runtime image that runs as an unprivileged user.
#   docker build -t strata .
#   docker run -p 1883:1883 -v strata-data:/var/lib/strata strata
# With TLS, passwords and ACLs, mount the files and a conf that names them:
#   docker run -p 8883:8883 -v $PWD/strata-conf:/etc/strata:ro -v strata-data:/var/lib/strata strata

FROM debian:12 AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      g++ cmake ninja-build pkg-config libboost1.74-dev libcli11-dev doctest-dev librocksdb-dev \
      nlohmann-json3-dev libssl-dev libsqlite3-dev libmariadb-dev libpq-dev libmongoc-dev \
      librdkafka-dev libsimdjson-dev ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Every directory the top-level CMakeLists.txt reads at configure time
# (sources, add_subdirectory: bench, plugins, tests), even though only the
# broker is built, or configuring fails.
COPY CMakeLists.txt ./
COPY broker ./broker
COPY storage ./storage
COPY bench ./bench
COPY plugins ./plugins
COPY tests ./tests
COPY conf ./conf
RUN cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
 && cmake --build build --target strata

FROM debian:12-slim
# The database clients are needed only by their exporter modules
# (/usr/local/lib/strata/strata_exporter_KIND.so, loaded when the conf names
# the kind): an image for a broker alone can leave them out.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends libstdc++6 libssl3 libsimdjson14 \
      libsnappy1v5 zlib1g libbz2-1.0 liblz4-1 libzstd1 \
      libsqlite3-0 libmariadb3 libpq5 libmongoc-1.0-0 librdkafka1 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home-dir /var/lib/strata --create-home --shell /usr/sbin/nologin strata
COPY --from=build /src/build/bin/strata /usr/local/bin/strata
# Exporter modules: ../lib/strata from the binary is where strata looks (exporter_plugin_dir).
COPY --from=build /src/build/lib/strata /usr/local/lib/strata
COPY conf/strata-docker.conf /etc/strata/strata.conf
USER strata
VOLUME ["/var/lib/strata"]
WORKDIR /var/lib/strata
EXPOSE 1883
ENTRYPOINT ["/usr/local/bin/strata"]
CMD ["-c", "/etc/strata/strata.conf"]
