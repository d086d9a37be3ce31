#!/usr/bin/env bash
# Runs progressive_play against the Ceph RADOS Gateway of CTest's S3 fixture: makes a bucket
# (depot mb), stores a 64 MiB object in it and plays it with 8 random seeks while it downloads.
#   progressive_play_test.sh DEPOT PROGRESSIVE_PLAY
# The gateway comes from DEPOT_TEST_S3_ENDPOINT and its keys (cmake/DepotS3Fixture.cmake).
# Without an endpoint: exit 77 (skipped), or 1 under DEPOT_TEST_INTEGRATION=1.
set -euo pipefail
depot="$1"
play="$2"
endpoint="${DEPOT_TEST_S3_ENDPOINT:-}"
if [[ -z "$endpoint" ]]; then
  echo "progressive_play_test: DEPOT_TEST_S3_ENDPOINT is not set (no S3 gateway)" >&2
  [[ "${DEPOT_TEST_INTEGRATION:-}" == 1 ]] && exit 1
  exit 77
fi
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL
export AWS_ACCESS_KEY_ID="$DEPOT_TEST_S3_ACCESS_KEY" AWS_SECRET_ACCESS_KEY="$DEPOT_TEST_S3_SECRET_KEY"
export AWS_ENDPOINT_URL_S3="$endpoint" AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
export NO_PROXY='127.0.0.1,localhost' no_proxy='127.0.0.1,localhost'
bucket="depot-play-$$-$RANDOM"
"$depot" mb "s3://$bucket"
trap '"$depot" rm --recursive "s3://$bucket/" >/dev/null 2>&1; "$depot" rb "s3://$bucket" >/dev/null 2>&1' EXIT
"$play" "s3://$bucket?endpoint=$endpoint" movie.bin --upload-mib 64 --seeks 8 --seed "$RANDOM"
