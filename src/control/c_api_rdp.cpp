// The C API's Remote Desktop calls (openae.h): a host's own FreeRDP server hands openae its
// sessions (rdp.h has the C++ ones).
#include <openae/openae.h>
#include <openae/pipeline/rdp.h>
#include <openae/rt/errc.h>

#include <algorithm>
#include <cstring>
#include <string>

extern "C" {

int ae_rdp_attach_session(void* vcm, void* rdp_context, const char* client, char* id, size_t id_size) {
    if (!vcm || !rdp_context || !id || id_size == 0) return AE_ERR_BAD_ARGUMENT;
    try {
        auto attached = ae::pipeline::rdp_attach_session(vcm, rdp_context, client ? client : "");
        if (!attached) {
            const std::error_code ec = attached.error().code;
            return ec.category() == ae::error_category() ? ec.value() : AE_ERR_IO_ERROR;
        }
        if (attached->size() >= id_size) {
            ae::pipeline::rdp_detach_session(*attached);
            return AE_ERR_BAD_ARGUMENT; // no room for the id: nothing stays attached
        }
        std::memcpy(id, attached->c_str(), attached->size() + 1);
        return AE_OK;
    } catch (...) {
        return AE_ERR_IO_ERROR;
    }
}

void ae_rdp_detach_session(const char* id) {
    if (!id) return;
    try {
        ae::pipeline::rdp_detach_session(id);
    } catch (...) {
    }
}

} // extern "C"
