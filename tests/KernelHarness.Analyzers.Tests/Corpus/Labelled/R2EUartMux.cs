// Four-port UART multiplexer with a threaded IRQ, a poll timer held in a delegate field and a flusher kthread.
// Control flow under test: trylock loops, bool trylock results, try/finally releases, nested local_irq_save.
using KernelHarness;
using static KernelHarness.Kernel;

namespace Corpus.Labelled.R2EUartMux;

public sealed class uart_port
{
    public readonly spinlock_t plock = new();
    public int lsr, rx_count;
    public bool open;
    public kptr rx_buf;
}

public sealed class UartMux
{
    private const int NR_PORTS = 4;
    private const int EV_RX = 1, EV_TX = 2, EV_BREAK = 3, EV_OVERRUN = 4;

    private readonly uart_port[] ports = { new(), new(), new(), new() };
    private readonly spinlock_t mux_lock = new();
    private readonly rwlock_t route_lock = new();
    private readonly mutex xmit_lock = new();
    private readonly wait_queue_head_t tx_wait = new();
    private readonly timer_list poll_timer = new();
    private static readonly percpu<long> rx_bytes = DEFINE_PER_CPU<long>();
    private readonly System.Action<timer_list> poll_fn;
    private task_struct? flusher;
    private kptr xmit_buf = NULL;
    private int route_map, pending_events, recycled;
    private uint irq;
    private bool tx_ready;
    public UartMux() => poll_fn = t => poll_ports();

    public int probe(uint irq_line)
    {
        int err;
        kptr xb = kmalloc(PAGE_SIZE, GFP_KERNEL);
        if (xb == NULL)
            return -ENOMEM;
        kptr rb = kzalloc(1024, GFP_KERNEL);
        if (rb == NULL) {
            err = -ENOMEM;
            goto err_free_xmit;
        }
        timer_setup(poll_timer, poll_fn, 0);
        err = request_threaded_irq(irq_line, uart_hardirq, uart_thread, IRQF_ONESHOT, "uartmux", this);
        if (err != 0)
            goto err_free_rx;
        irq = irq_line;
        xmit_buf = xb;
        ports[0].rx_buf = rb;
        flusher = kthread_run(flusher_main, this, "uartmux-flush");
        mod_timer(poll_timer, jiffies + HZ / 10);
        return 0;

    err_free_rx:
        kfree(rb);
    err_free_xmit:
        kfree(xb);
        return err; // ok: KH3004 (both rungs run on the request_threaded_irq failure path, only xb's on the rb failure path)
    }

    private int read_event() => (ports[0].lsr | ports[1].lsr | ports[2].lsr | ports[3].lsr) & 7;

    private irqreturn_t uart_hardirq(int irq_no, object? dev_id)
    {
        if (dev_id is not UartMux)
            return IRQ_NONE;
        switch (read_event()) {
            case EV_RX:
                return IRQ_WAKE_THREAD;
            case EV_TX:
                spin_lock(mux_lock);
                tx_ready = true;
                spin_unlock(mux_lock);
                wake_up(tx_wait);
                return IRQ_HANDLED;
            case EV_OVERRUN:
                flush_fifo(); // expect: KH1001 (flush_fifo() takes the xmit_lock mutex, and this is the hard-IRQ handler)
                return IRQ_HANDLED;
            case EV_BREAK:
                mdelay(1); // ok: KH1001 (mdelay busy-waits: allowed in hard-IRQ context)
                goto case EV_RX;
            default:
                return IRQ_NONE;
        }
    }

    private void flush_fifo()
    {
        mutex_lock(xmit_lock);
        pending_events = 0;
        mutex_unlock(xmit_lock);
    }

    // thread_fn: process context.
    private irqreturn_t uart_thread(int irq_no, object? dev_id)
    {
        mutex_lock(xmit_lock); // ok: KH1001 (the thread_fn of request_threaded_irq runs in process context: it may sleep)
        kptr chunk = kmalloc(256, GFP_KERNEL); // ok: KH1002 (process context; only a mutex is held)
        if (chunk == NULL)
            goto out_unlock;
        foreach (var p in ports) {
            while (!spin_trylock(p.plock)) // ok: KH2003 (the trylock loop exits only with the lock taken; it is released below)
                cpu_relax();
            int n = p.rx_count;
            p.rx_count = 0;
            spin_unlock(p.plock); // ok: KH2004 (a successful spin_trylock pairs with plain spin_unlock)
            ptr_ref<int>(chunk) += n;
        }
        if (!recycle(chunk))
            kfree(chunk); // ok: KH3003 (recycle() frees only when it returns true, and this free runs only when it returned false)
    out_unlock:
        mutex_unlock(xmit_lock);
        return IRQ_HANDLED;
    }

    private bool recycle(kptr c)
    {
        if (recycled >= 8)
            return false;
        recycled++;
        kfree(c);
        return true;
    }

    // Timer callback (softirq), registered through the poll_fn delegate field.
    private void poll_ports()
    {
        bool locked = spin_trylock(mux_lock); // ok: KH2003 (released at the end under the same 'locked' test)
        if (locked)
            pending_events++;
        int i = 0;
        while (i < NR_PORTS) {
            uart_port p = ports[i++];
            if (p.lsr == 0)
                continue;
            kptr rec = kzalloc(64, GFP_KERNEL); // expect: KH1002 (GFP_KERNEL in a timer callback: softirq context)
            if (rec == NULL)
                continue;
            ptr_ref<int>(rec) = p.lsr;
            kfree(rec); // ok: KH3003 (rec is a fresh allocation on every iteration: reassigned between the frees)
        }
        kptr beat = kmalloc(32, GFP_ATOMIC); // ok: KH1002 (GFP_ATOMIC in a timer callback)
        kfree(beat);
        if (locked)
            spin_unlock(mux_lock);
        mod_timer(poll_timer, jiffies + HZ / 10);
    }

    public int port_read_status(int line)
    {
        if (line < 0 || line >= NR_PORTS)
            return -EINVAL;
        uart_port p = ports[line];
        while (!spin_trylock(p.plock)) // expect: KH2003 (the 'return -ENODEV' below leaves p.plock held)
            cpu_relax();
        if (!p.open)
            return -ENODEV;
        int lsr = p.lsr;
        spin_unlock(p.plock);
        return lsr;
    }

    public int try_xmit(int line, int b)
    {
        uart_port p = ports[line & 3];
        bool got = spin_trylock(p.plock); // expect: KH2003 (held once 'got' is true, but the 'return -EIO' on a broken line skips the unlock)
        if (!got)
            return -EBUSY;
        if ((p.lsr & 0x80) != 0)
            return -EIO;
        p.rx_count += b;
        spin_unlock(p.plock);
        return 0;
    }

    public void kick_tx(int line)
    {
        uart_port p = ports[line & 3];
        if (spin_trylock(p.plock)) {
            p.lsr |= 0x20;
            if (!tx_ready)
                wait_event(tx_wait, () => tx_ready); // expect: KH1001 (wait_event sleeps while p.plock, taken by the successful trylock, is held)
            spin_unlock(p.plock);
        }
        wait_event_timeout(tx_wait, () => tx_ready, (long)HZ); // ok: KH1001 (after the trylock block p.plock is released on every path)
    }

    public int set_route(int line, int target)
    {
        if (line < 0 || line >= NR_PORTS || target < 0 || target >= NR_PORTS)
            return -EINVAL;
        write_lock_irqsave(route_lock, out ulong flags);
        try {
            if (((route_map >> (line * 4)) & 0xF) == target)
                return 0;
            route_map = (route_map & ~(0xF << (line * 4))) | (target << (line * 4));
            return 1;
        } finally {
            write_unlock_irq(route_lock); // expect: KH2004 (route_lock was taken with write_lock_irqsave; write_unlock_irq ignores the saved flags)
        }
    }

    public int count_routes_to(int target)
    {
        int n = 0;
        for (int line = 0; line < NR_PORTS; line++) {
            read_lock_bh(route_lock);
            if (((route_map >> (line * 4)) & 0xF) != target) {
                read_unlock(route_lock); // expect: KH2004 (read_lock_bh released with read_unlock before the continue: bottom halves stay disabled)
                continue;
            }
            n++;
            read_unlock_bh(route_lock); // ok: KH2004 (the matching _bh release on the fall-through path)
        }
        return n;
    }

    public int send_frame(ulong user_src, int len)
    {
        if (len <= 0 || len > 512)
            return -EINVAL;
        kptr frame = kmalloc((ulong)len, GFP_KERNEL);
        if (frame == NULL)
            return -ENOMEM;
        try {
            if (copy_from_user(frame, user_src, (ulong)len) != 0)
                return -EFAULT; // ok: KH3004 (the finally frees frame on this return too)
            mutex_lock(xmit_lock);
            memcpy(xmit_buf, frame, (ulong)len);
            mutex_unlock(xmit_lock);
            kfree(frame);
            return len;
        } finally {
            kfree(frame); // expect: KH3003 (on the success path frame was already freed inside the try)
        }
    }

    public void close_port(int line)
    {
        uart_port p = ports[line & 3];
        kptr old = p.rx_buf;
        spin_lock_irq(p.plock);
        p.open = false;
        spin_unlock_irq(p.plock);
        kfree(old);
        p.rx_count = 0;
        kfree(p.rx_buf); // expect: KH3003 (p.rx_buf is the buffer 'old' aliases, freed a few lines above)
        p.rx_buf = NULL;
    }

    public int port_ioctl(int line, int cmd, ulong arg)
    {
        kptr scratch = kzalloc(128, GFP_KERNEL);
        if (scratch == NULL)
            return -ENOMEM;
        int ret;
        switch (cmd) {
            case 1:
                ptr_ref<int>(scratch) = ports[line & 3].lsr;
                ret = copy_to_user(arg, scratch, 128) != 0 ? -EFAULT : 0;
                break;
            case 2:
                if (line >= NR_PORTS)
                    return -EINVAL; // expect: KH3004 (scratch is neither freed nor stored on this return from inside the switch)
                ret = (route_map >> (line * 4)) & 0xF;
                break;
            default:
                ret = -ENOSYS;
                break;
        }
        kfree(scratch);
        return ret; // ok: KH3004 (scratch is freed after the switch on every break path)
    }

    public kptr alloc_rx(bool may_block)
    {
        spin_lock_irqsave(mux_lock, out ulong flags);
        kptr b = kmalloc(512, may_block ? GFP_KERNEL : GFP_ATOMIC); // expect: KH1002 (the GFP_KERNEL arm is taken under mux_lock, irqs off, whenever may_block is true)
        pending_events++;
        spin_unlock_irqrestore(mux_lock, flags);
        return b;
    }

    public int snapshot_lsr(int[] dst)
    {
        local_irq_save(out ulong outer);
        for (int i = 0; i < NR_PORTS && i < dst.Length; i++)
            dst[i] = ports[i].lsr;
        local_irq_save(out ulong inner);
        pending_events = 0;
        local_irq_restore(outer); // expect: KH2002 (crossed: the outer flags are restored while the inner save is still open)
        local_irq_restore(inner);
        return NR_PORTS;
    }

    // Kernel thread (process context): flush the transmit FIFO every few milliseconds.
    private int flusher_main(object? data)
    {
        while (!kthread_should_stop()) {
            flush_fifo(); // ok: KH1001 (flush_fifo sleeps on a mutex, but here it runs in the kthread: process context)
            msleep(20);
        }
        return 0;
    }

    public int reset_port(int line)
    {
        uart_port p = ports[line & 3];
        spin_lock_irq(p.plock);
        try {
            p.lsr = 0;
            p.rx_count = 0;
            msleep(10); // expect: KH1001 (the finally drops p.plock only after this: msleep runs with the lock held and irqs off)
        } finally {
            spin_unlock_irq(p.plock);
        }
        msleep(10); // ok: KH1001 (after the try/finally the lock is released)
        return 0;
    }

    private void put_rx_buf(kptr b)
    {
        pending_events = 0;
        kfree(b);
    }

    public void flush_port(int line)
    {
        uart_port p = ports[line & 3];
        kptr b = p.rx_buf;
        p.rx_buf = NULL;
        put_rx_buf(b);
        if (p.rx_count != 0)
            kfree(b); // expect: KH3003 (put_rx_buf() frees its parameter on every path: b is freed twice)
    }

    public void remove()
    {
        del_timer_sync(poll_timer);
        if (flusher != null)
            kthread_stop(flusher);
        free_irq(irq, this);
        kfree(xmit_buf);
        xmit_buf = NULL;
    }
}
