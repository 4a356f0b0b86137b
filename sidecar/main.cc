// Placeholder entry point; replaced below.
int main() { return 0; }
