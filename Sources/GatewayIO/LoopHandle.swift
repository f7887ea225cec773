// The one pattern every libuv handle in GatewayIO follows (C-INTEROP pitfall 9):
// - the handle's `data` holds a *retained* reference to the Swift object that owns the handle;
// - callbacks recover the owner unretained;
// - the close callback takes the retained reference back (releasing it) and frees the handle memory.
// Because every handle looks the same, shutdown can close whatever is still open with `uv_walk`.

import CLibUV

/// A Swift object that owns exactly one libuv handle on one loop.
protocol LoopHandleOwner: AnyObject {
    /// Called once from the close callback, on the loop thread; the owner frees the handle memory here.
    func handleDidClose()
}

enum LoopHandle {
    /// Stores a retained reference to `owner` in `handle.data`.
    static func attach(_ owner: any LoopHandleOwner, to handle: UnsafeMutablePointer<uv_handle_t>) {
        handle.pointee.data = Unmanaged<AnyObject>.passRetained(owner).toOpaque()
    }

    /// Closes `handle` (unless already closing); the owner hears about it in `handleDidClose`.
    static func close(_ handle: UnsafeMutablePointer<uv_handle_t>) {
        guard uv_is_closing(handle) == 0 else { return }
        uv_close(handle) { handle in
            guard let handle, let data = handle.pointee.data else { return }
            handle.pointee.data = nil
            let owner = Unmanaged<AnyObject>.fromOpaque(data).takeRetainedValue()
            // Every handle is attached through `attach`, so the cast cannot fail.
            (owner as! any LoopHandleOwner).handleDidClose()
        }
    }

    /// Closes a handle whose `data` is an unretained back pointer (the loop's own async handle).
    static func closeUnowned(_ handle: UnsafeMutablePointer<uv_handle_t>) {
        guard uv_is_closing(handle) == 0 else { return }
        handle.pointee.data = nil
        uv_close(handle, nil)
    }

    /// Reinterprets any concrete handle pointer as the `uv_handle_t` header libuv casts it to.
    @inline(__always)
    static func base<T>(_ pointer: UnsafeMutablePointer<T>) -> UnsafeMutablePointer<uv_handle_t> {
        UnsafeMutableRawPointer(pointer).assumingMemoryBound(to: uv_handle_t.self)
    }

    /// Reinterprets a TCP handle as the stream it extends.
    @inline(__always)
    static func stream(_ pointer: UnsafeMutablePointer<uv_tcp_t>) -> UnsafeMutablePointer<uv_stream_t> {
        UnsafeMutableRawPointer(pointer).assumingMemoryBound(to: uv_stream_t.self)
    }
}
