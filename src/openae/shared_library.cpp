// libopenae.so is ae_control, ae_engine, ae_pipeline and ae_rt linked whole (src/openae/CMakeLists.txt);
// a shared library needs one source of its own, and this is it.
