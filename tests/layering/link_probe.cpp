// Links only stsd_core (tests/CMakeLists.txt): its link command is what stsd_core's link
// interface puts into every binary, which check_layers.py reads. Never built by default.
int main() { return 0; }
