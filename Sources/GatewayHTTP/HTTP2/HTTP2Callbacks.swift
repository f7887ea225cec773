// The nghttp2 callbacks: C function pointers that cannot capture, so each one finds its connection
// through `user_data` (an unretained reference the connection keeps valid while its session lives;
// C-INTEROP pitfall 9) and forwards to a method that does the work.

import CNGHTTP2

enum HTTP2Callbacks {
    static func install(_ callbacks: OpaquePointer) {
        nghttp2_session_callbacks_set_on_begin_frame_callback(callbacks, onBeginFrame)
        nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks, onBeginHeaders)
        nghttp2_session_callbacks_set_on_header_callback(callbacks, onHeader)
        nghttp2_session_callbacks_set_on_invalid_header_callback(callbacks, onInvalidHeader)
        nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, onFrameRecv)
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, onDataChunk)
        nghttp2_session_callbacks_set_on_frame_send_callback(callbacks, onFrameSend)
        nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, onStreamClose)
    }

    private static func connection(_ user: UnsafeMutableRawPointer?) -> HTTP2ServerConnection? {
        guard let user else { return nil }
        return Unmanaged<HTTP2ServerConnection>.fromOpaque(user).takeUnretainedValue()
    }

    private static let callbackFailure = Int32(NGHTTP2_ERR_CALLBACK_FAILURE.rawValue)
    private static let resetStream = Int32(NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue)
    private static let requestCategory = UInt32(NGHTTP2_HCAT_REQUEST.rawValue)
    private static let headersCategory = UInt32(NGHTTP2_HCAT_HEADERS.rawValue)

    static let onBeginFrame: nghttp2_on_begin_frame_callback = { _, hd, user in
        guard let hd, let connection = connection(user) else { return 0 }
        let ok = connection.frameBegins(type: hd.pointee.type, flags: hd.pointee.flags, streamID: hd.pointee.stream_id)
        return ok ? 0 : callbackFailure
    }

    static let onBeginHeaders: nghttp2_on_begin_headers_callback = { _, frame, user in
        guard let frame, let connection = connection(user), frame.pointee.hd.type == HTTP2FrameType.headers else {
            return 0
        }
        let category = UInt32(frame.pointee.headers.cat.rawValue)
        if category == requestCategory {
            connection.requestBegins(streamID: frame.pointee.hd.stream_id)
        } else if category == headersCategory {
            connection.trailersBegin(streamID: frame.pointee.hd.stream_id)
        }
        return 0
    }

    static let onHeader: nghttp2_on_header_callback = { _, frame, name, nameLength, value, valueLength, _, user in
        guard let frame, let connection = connection(user), frame.pointee.hd.type == HTTP2FrameType.headers else {
            return 0
        }
        let ok = connection.headerField(
            streamID: frame.pointee.hd.stream_id, name: UnsafeBufferPointer(start: name, count: nameLength),
            value: UnsafeBufferPointer(start: value, count: valueLength))
        return ok ? 0 : resetStream
    }

    static let onInvalidHeader: nghttp2_on_invalid_header_callback = { _, frame, _, _, _, _, _, user in
        guard let frame, let connection = connection(user) else { return 0 }
        return connection.invalidField(streamID: frame.pointee.hd.stream_id) ? 0 : resetStream
    }

    static let onFrameRecv: nghttp2_on_frame_recv_callback = { _, frame, user in
        guard let frame, let connection = connection(user) else { return 0 }
        let hd = frame.pointee.hd
        let endStream = hd.flags & HTTP2Flag.endStream != 0
        switch hd.type {
        case HTTP2FrameType.headers:
            connection.headersComplete(streamID: hd.stream_id, endStream: endStream)
        case HTTP2FrameType.data where endStream:
            connection.requestEnded(streamID: hd.stream_id)
        default:
            break
        }
        return 0
    }

    static let onDataChunk: nghttp2_on_data_chunk_recv_callback = { _, _, streamID, data, length, user in
        guard let connection = connection(user) else { return 0 }
        connection.dataChunk(streamID: streamID, bytes: UnsafeBufferPointer(start: data, count: length))
        return 0
    }

    static let onFrameSend: nghttp2_on_frame_send_callback = { _, frame, user in
        guard let frame, let connection = connection(user) else { return 0 }
        let hd = frame.pointee.hd
        let code = hd.type == HTTP2FrameType.rstStream ? frame.pointee.rst_stream.error_code : 0
        connection.frameSent(type: hd.type, flags: hd.flags, streamID: hd.stream_id, errorCode: code)
        return 0
    }

    static let onStreamClose: nghttp2_on_stream_close_callback = { _, streamID, _, user in
        connection(user)?.streamClosed(streamID: streamID)
        return 0
    }

    static let readResponseBody: nghttp2_data_source_read_callback = { _, streamID, buffer, length, flags, _, user in
        guard let buffer, let flags, let connection = connection(user) else {
            return Int(NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue)
        }
        return connection.readBody(streamID: streamID, into: buffer, length: length, flags: flags)
    }
}
