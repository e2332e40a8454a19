package dev.ferrotun

import com.sun.jna.Library
import com.sun.jna.Memory
import com.sun.jna.Native
import com.sun.jna.NativeLong
import com.sun.jna.ptr.IntByReference
import java.io.File

/** The few libc calls the tests need (Linux x86-64 / arm64 constants). */
@Suppress("FunctionName")
interface LibC : Library {
    fun socketpair(domain: Int, type: Int, protocol: Int, sv: IntArray): Int
    fun read(fd: Int, buf: ByteArray, count: NativeLong): NativeLong
    fun write(fd: Int, buf: ByteArray, count: NativeLong): NativeLong
    fun close(fd: Int): Int
    fun fcntl(fd: Int, cmd: Int): Int
    fun setsockopt(fd: Int, level: Int, name: Int, value: Memory, len: Int): Int
    fun getsockopt(fd: Int, level: Int, name: Int, value: IntByReference, len: IntByReference): Int
    fun getsockname(fd: Int, addr: Memory, len: IntByReference): Int

    companion object {
        val INSTANCE: LibC = Native.load("c", LibC::class.java)

        const val AF_UNIX = 1
        const val AF_INET = 2
        const val AF_INET6 = 10
        const val SOCK_DGRAM = 2
        const val SOL_SOCKET = 1
        const val SO_TYPE = 3
        const val SO_DOMAIN = 39
        const val SO_RCVTIMEO = 20
        const val F_GETFD = 1
    }
}

/**
 * One `socketpair(AF_UNIX, SOCK_DGRAM)`: [tunFd] goes to `Tunnel.start` (which
 * owns it from then on), [appFd] is the test's side of the fake TUN.
 */
class FakeTun : AutoCloseable {
    val tunFd: Int
    val appFd: Int

    init {
        val fds = IntArray(2)
        check(LibC.INSTANCE.socketpair(LibC.AF_UNIX, LibC.SOCK_DGRAM, 0, fds) == 0) {
            "socketpair failed: errno ${Native.getLastError()}"
        }
        tunFd = fds[0]
        appFd = fds[1]
        setReadTimeout(100)
    }

    /** Writes one IP packet as the OS would hand it to the tunnel. Returns false when the tunnel's side is closed. */
    fun send(packet: ByteArray): Boolean =
        LibC.INSTANCE.write(appFd, packet, NativeLong(packet.size.toLong())).toLong() == packet.size.toLong()

    /** Reads one packet the tunnel wrote, or null after the read timeout. */
    fun receive(): ByteArray? {
        val buf = ByteArray(65536)
        val n = LibC.INSTANCE.read(appFd, buf, NativeLong(buf.size.toLong())).toLong()
        return if (n < 0) null else buf.copyOf(n.toInt())
    }

    /** Reads until a packet arrives or [timeoutMs] passes. */
    fun receive(timeoutMs: Long): ByteArray? {
        val deadline = System.nanoTime() + timeoutMs * 1_000_000
        while (System.nanoTime() < deadline) {
            receive()?.let { return it }
        }
        return null
    }

    private fun setReadTimeout(millis: Long) {
        val timeval = Memory(16)
        timeval.setLong(0, millis / 1000)
        timeval.setLong(8, (millis % 1000) * 1000)
        check(LibC.INSTANCE.setsockopt(appFd, LibC.SOL_SOCKET, LibC.SO_RCVTIMEO, timeval, 16) == 0)
    }

    private var closed = false

    /** Closes the test's end; idempotent, so a reused fd number is never closed twice. */
    @Synchronized
    override fun close() {
        if (closed) return
        closed = true
        LibC.INSTANCE.close(appFd)
    }
}

/** Whether [fd] is an open descriptor. */
fun isOpen(fd: Int): Boolean = LibC.INSTANCE.fcntl(fd, LibC.F_GETFD) >= 0

/** SO_TYPE of [fd], or null when it is not a socket. */
fun socketType(fd: Int): Int? {
    val value = IntByReference()
    val len = IntByReference(4)
    return if (LibC.INSTANCE.getsockopt(fd, LibC.SOL_SOCKET, LibC.SO_TYPE, value, len) == 0) value.value else null
}

/** The local UDP/TCP port [fd] is bound to, or null when it is not an inet socket. */
fun boundPort(fd: Int): Int? {
    val addr = Memory(128)
    addr.clear()
    val len = IntByReference(128)
    if (LibC.INSTANCE.getsockname(fd, addr, len) != 0) return null
    val family = addr.getShort(0).toInt()
    if (family != LibC.AF_INET && family != LibC.AF_INET6) return null
    // sin_port / sin6_port: network byte order at offset 2 in both layouts.
    return ((addr.getByte(2).toInt() and 0xff) shl 8) or (addr.getByte(3).toInt() and 0xff)
}

/** Open fds of this process. */
fun openFdCount(): Int = File("/proc/self/fd").list()!!.size

/** Threads of this process, as the kernel counts them. */
fun threadCount(): Int =
    File("/proc/self/status").readLines().first { it.startsWith("Threads:") }.substringAfter(":").trim().toInt()
