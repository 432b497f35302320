# Sourced by the comparison scripts: the `implicit` 0.7.3 virtualenv in benches/.venv,
# created on first use (needs PyPI).
if [ ! -x benches/.venv/bin/python ]; then
  echo "== installing implicit 0.7.3 into benches/.venv"
  python3 -m venv benches/.venv
  benches/.venv/bin/pip install -q "implicit==0.7.3" numpy scipy pandas threadpoolctl
fi
