"""The IOC: the pull API, the signed push of KPI snapshots, and Open311 GeoReport v2."""
