//! A mission module in Rust, written from the C header's layout alone (no Swift, no C, no crates):
//! the proof that the ABI belongs to no one language. Build:
//!   rustc --edition 2021 --crate-type cdylib -O rust_module.rs -o libpeacehub_rust.so
#![allow(non_camel_case_types)]

use std::os::raw::{c_char, c_void};
use std::ptr;

#[repr(C)]
pub struct phub_buffer_t {
    struct_size: u32, abi_major: u32, abi_minor: u32, reserved: u32,
    data: *mut u8, capacity: u64, length: u64,
}

#[repr(C)]
pub struct phub_message_t {
    struct_size: u32, abi_major: u32, abi_minor: u32, reserved: u32,
    topic: *const c_char, report_type: *const c_char, payload: *const u8, payload_size: u64,
    sender_contingent: *const c_char, sender_operator: *const c_char, security_label: *const c_char,
    received_unix_ns: i64, precedence: i32, qos: i32,
}

#[repr(C)]
pub struct phub_verdict_t {
    struct_size: u32, abi_major: u32, abi_minor: u32, reserved: u32,
    decision: i32, reason_code: i32, reason: *mut phub_buffer_t, annotations: *mut phub_buffer_t,
}

#[repr(C)]
pub struct phub_host_t {
    struct_size: u32, abi_major: u32, abi_minor: u32, reserved: u32,
    host_data: *mut c_void, name: *const c_char, version: *const c_char,
    log: Option<extern "C" fn(*const phub_host_t, i32, *const c_char)>,
    alloc: Option<extern "C" fn(*const phub_host_t, u64) -> *mut c_void>,
    free: Option<extern "C" fn(*const phub_host_t, *mut c_void)>,
    clock_unix_ns: Option<extern "C" fn(*const phub_host_t) -> i64>,
    clock_monotonic_ns: Option<extern "C" fn(*const phub_host_t) -> i64>,
    publish: Option<extern "C" fn(*const phub_host_t, *const c_char, *const u8, u64, i32) -> i32>,
    registry_get: Option<extern "C" fn(*const phub_host_t, *const c_char, *const c_char, *mut phub_buffer_t) -> i32>,
    get_config: Option<extern "C" fn(*const phub_host_t, *mut phub_buffer_t) -> i32>,
    get_extension: Option<extern "C" fn(*const phub_host_t, *const c_char) -> *const c_void>,
}

#[repr(C)]
pub struct phub_create_info_t {
    struct_size: u32, abi_major: u32, abi_minor: u32, reserved: u32,
    library_path: *const c_char, data_dir: *const c_char,
}

#[repr(C)]
pub struct phub_plugin_t {
    struct_size: u32, abi_major: u32, abi_minor: u32, reserved: u32,
    id: *const c_char, mission: *const c_char, version: *const c_char, display_name: *const c_char,
    plugin_data: *mut c_void,
    create: extern "C" fn(*const phub_plugin_t, *const phub_host_t, *const phub_create_info_t, *mut *mut c_void, *mut phub_buffer_t) -> i32,
    destroy: extern "C" fn(*const phub_plugin_t, *mut c_void),
    judge_message: extern "C" fn(*mut c_void, *const phub_message_t, *mut phub_verdict_t) -> i32,
    evaluate_readiness: extern "C" fn(*mut c_void, *const u8, u64, *mut phub_buffer_t) -> i32,
    run_command: extern "C" fn(*mut c_void, *const c_char, *const u8, u64, *mut phub_buffer_t) -> i32,
    get_extension: Option<extern "C" fn(*mut c_void, *const c_char) -> *const c_void>,
}

// The table is immutable and its pointers are to static data.
unsafe impl Sync for phub_plugin_t {}

const PHUB_OK: i32 = 0;
const PHUB_ERR_INVALID_ARGUMENT: i32 = 1;
const PHUB_ERR_BUFFER_TOO_SMALL: i32 = 2;
const PHUB_ERR_UNSUPPORTED: i32 = 3;
const PHUB_DECISION_ACCEPT: i32 = 1;
const PHUB_DECISION_REJECT: i32 = 2;
const PHUB_REASON_MALFORMED: i32 = 1;

struct Instance {
    host: *const phub_host_t,
}

/// The ABI's output rule: copy when it fits, always report the full length.
unsafe fn write(buffer: *mut phub_buffer_t, bytes: &[u8]) -> i32 {
    let buffer = &mut *buffer;
    buffer.length = bytes.len() as u64;
    if bytes.len() as u64 > buffer.capacity {
        return PHUB_ERR_BUFFER_TOO_SMALL;
    }
    ptr::copy_nonoverlapping(bytes.as_ptr(), buffer.data, bytes.len());
    PHUB_OK
}

unsafe fn bytes<'a>(pointer: *const u8, size: u64) -> &'a [u8] {
    if pointer.is_null() { &[] } else { std::slice::from_raw_parts(pointer, size as usize) }
}

fn looks_like_object(bytes: &[u8]) -> bool {
    let text = bytes.iter().copied().filter(|b| !b" \n\r\t".contains(b)).collect::<Vec<u8>>();
    text.first() == Some(&b'{') && text.last() == Some(&b'}')
}

extern "C" fn create(_plugin: *const phub_plugin_t, host: *const phub_host_t, _info: *const phub_create_info_t,
                     out: *mut *mut c_void, _error: *mut phub_buffer_t) -> i32 {
    unsafe {
        if let Some(log) = (*host).log {
            log(host, 2, b"rust module created\0".as_ptr() as *const c_char);
        }
        *out = Box::into_raw(Box::new(Instance { host })) as *mut c_void;
    }
    PHUB_OK
}

extern "C" fn destroy(_plugin: *const phub_plugin_t, instance: *mut c_void) {
    unsafe { drop(Box::from_raw(instance as *mut Instance)) };
}

extern "C" fn judge(instance: *mut c_void, message: *const phub_message_t, verdict: *mut phub_verdict_t) -> i32 {
    unsafe {
        let message = &*message;
        let verdict = &mut *verdict;
        if !looks_like_object(bytes(message.payload, message.payload_size)) {
            verdict.decision = PHUB_DECISION_REJECT;
            verdict.reason_code = PHUB_REASON_MALFORMED;
            return write(verdict.reason, b"the payload is not a JSON object");
        }
        let host = (*(instance as *const Instance)).host;
        let seconds = (*host).clock_unix_ns.map(|clock| clock(host) / 1_000_000_000).unwrap_or(0);
        verdict.decision = PHUB_DECISION_ACCEPT;
        verdict.reason_code = 0;
        write(verdict.annotations, format!("{{\"language\":\"rust\",\"hostSeconds\":{}}}", seconds).as_bytes())
    }
}

extern "C" fn readiness(_instance: *mut c_void, request: *const u8, size: u64, out: *mut phub_buffer_t) -> i32 {
    unsafe {
        let request = bytes(request, size);
        if !looks_like_object(request) {
            write(out, b"{\"error\":\"the readiness request is not a JSON object\"}");
            return PHUB_ERR_INVALID_ARGUMENT;
        }
        let trained = request.windows(9).any(|w| w == b"\"UN-CPTM\"");
        write(out, if trained { b"[]" as &[u8] } else {
            b"[{\"code\":\"TRAINING_MISSING\",\"message\":\"UN-CPTM is missing\"}]"
        })
    }
}

extern "C" fn command(_instance: *mut c_void, name: *const c_char, _arguments: *const u8, _size: u64,
                      out: *mut phub_buffer_t) -> i32 {
    unsafe {
        let name = std::ffi::CStr::from_ptr(name).to_bytes();
        if name == b"describe" {
            return write(out, b"{\"mission\":\"RUST\",\"language\":\"rust\"}");
        }
        write(out, b"{\"error\":\"unknown command\"}");
        PHUB_ERR_UNSUPPORTED
    }
}

static PLUGIN: phub_plugin_t = phub_plugin_t {
    struct_size: std::mem::size_of::<phub_plugin_t>() as u32, abi_major: 1, abi_minor: 0, reserved: 0,
    id: b"org.peacehub.rust\0".as_ptr() as *const c_char,
    mission: b"RUST\0".as_ptr() as *const c_char,
    version: b"1.0.0\0".as_ptr() as *const c_char,
    display_name: b"A module written in Rust\0".as_ptr() as *const c_char,
    plugin_data: ptr::null_mut(),
    create, destroy, judge_message: judge, evaluate_readiness: readiness, run_command: command,
    get_extension: None,
};

#[no_mangle]
pub extern "C" fn phub_plugin_entry_v1(host_major: u32, _host_minor: u32) -> *const phub_plugin_t {
    if host_major == 1 { &PLUGIN } else { ptr::null() }
}
