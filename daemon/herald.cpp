// herald: placeholder until the command-line client is written.
int main() {
  return 0;
}
