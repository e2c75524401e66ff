// A sensor multiplexer: SensorNode objects on an RCU-walked list, a table guarded by an rwlock and an rw_semaphore,
// per-node alert IRQs and a router holding this.node. Holds rw lock nesting, RCU, read/write variant and dev_id mistakes.
using KernelHarness;
using static KernelHarness.Kernel;

namespace Corpus.Labelled.R3ISensorMux;

public sealed class SensorNode
{
    public readonly rwlock_t val_lock = new();
    public readonly semaphore busy = new(1);
    public readonly SensorTable table;
    public SensorNode? next;
    public int id, value, threshold = 100;
    public uint alert_irq, alert_status;
    public ulong irq_flags;

    public SensorNode(SensorTable owner, int node_id, uint line) { table = owner; id = node_id; alert_irq = line; }

    // Hard IRQ, registered with this node as dev_id.
    public irqreturn_t alert_isr(int irq_no, object? dev_id)
    {
        read_lock(val_lock);
        bool over = value > threshold;
        read_unlock(val_lock);
        if (!over)
            return IRQ_NONE;
        record_alert(); // expect: KH1001 (hard-IRQ handler: record_alert() -> down() may sleep)
        return IRQ_HANDLED;
    }

    private void record_alert() { down(busy); alert_status++; up(busy); }

    public void update(int v)
    {
        write_lock_irqsave(val_lock, out irq_flags);
        value = v;
        write_unlock_irqrestore(val_lock, irq_flags); // ok: KH2004 near-miss: irqsave pair, flags kept in a field of the node
    }

    public int arm() => request_irq(alert_irq, alert_isr, IRQF_SHARED, "sensor-alert", this); // ok: KH4004 near-miss: alert_isr reads this node's value and threshold

    public void disarm() => free_irq(alert_irq, this); // ok: KH4002 near-miss: same node as in arm()

    // Hot-unplug path run by the table.
    public void release_line() => free_irq(alert_irq, table); // expect: KH4002 (alert_irq is requested only with this node, freed with the table)
}

public sealed class AlertRouter
{
    private readonly SensorNode node;
    private readonly tasklet_struct route_bh = new();
    private int routed;

    public AlertRouter(SensorNode target) { node = target; tasklet_setup(route_bh, t => route()); }

    [Acquires("this.node.val_lock", Kind = LockKind.ReadLock)]
    private void pin_value()
    {
        read_lock(this.node.val_lock); // ok: KH2003 near-miss: [Acquires("this.node.val_lock")] helper
    }

    [Releases("this.node.val_lock", Kind = LockKind.ReadLock)]
    private void unpin_value()
    {
        read_unlock(node.val_lock); // ok: KH2003 near-miss: [Releases("this.node.val_lock")] helper
    }

    // Tasklet (softirq).
    private void route()
    {
        pin_value(); // ok: KH2003 near-miss: balanced by unpin_value()
        int v = this.node.value;
        udelay(5); // ok: KH1001 near-miss: busy wait with the read lock held
        unpin_value();
        if (v > node.threshold)
            routed++;
    }

    public void kick() => tasklet_schedule(route_bh);

    public int route_now()
    {
        pin_value(); // expect: KH2003 (this.node.val_lock taken through the [Acquires] helper is still held on the -EAGAIN return)
        if (node.alert_status == 0)
            return -EAGAIN;
        routed++;
        unpin_value();
        return 0;
    }
}

public sealed class SensorTable
{
    private readonly rwlock_t table_lock = new();
    private readonly rw_semaphore cfg_sem = new();
    private readonly mutex scan_mutex = new();
    private readonly work_struct rescan_work = new();
    private readonly irq_handler_t quiet_handler = (n, d) => IRQ_HANDLED;
    private SensorNode? head;
    private int count;
    private int poll_ms = 100;
    private uint mux_irq, legacy_irq;
    private static uint debug_hits;

    public int init(uint mux_line, uint legacy_line)
    {
        mux_irq = mux_line;
        legacy_irq = legacy_line;
        INIT_WORK(rescan_work, w => rescan());
        int err = request_irq(mux_irq, quiet_handler, IRQF_SHARED, "sensor-mux", this); // expect: KH4004 (the handler stored in a field returns IRQ_HANDLED without reading the table)
        if (err != 0)
            return err;
        err = request_irq(legacy_irq, legacy_isr, 0, "sensor-legacy", this); // ok: KH4004 near-miss: the legacy line is not shared
        if (err != 0)
            free_irq(mux_irq, this); // ok: KH4002 near-miss: mux_irq was requested with this table
        return err;
    }

    private static irqreturn_t legacy_isr(int irq_no, object? dev_id) => IRQ_HANDLED;

    private static irqreturn_t debug_isr(int irq_no, object? dev_id) { debug_hits++; return IRQ_HANDLED; }

    public int hook_debug(uint dbg_line) => request_irq(dbg_line, debug_isr, IRQF_SHARED, "sensor-dbg", null); // expect: KH4001, KH4004 (shared line with a null dev_id; debug_isr claims every interrupt)

    public void unhook_debug(uint dbg_line) => free_irq(dbg_line, null); // ok: KH4002 near-miss: the same (null) dev_id the request used

    // Per-node threaded line: the hard half asks the node, the thread does the slow part.
    public int attach_line(uint line, SensorNode node) => request_threaded_irq(line, node_hard_isr, node_thread_fn, IRQF_SHARED | IRQF_ONESHOT, "sensor-node", node); // ok: KH4004 near-miss: the hard handler reads its dev_id's alert_status; thread_fn is not a hard handler

    private static irqreturn_t node_hard_isr(int irq_no, object? dev_id)
    {
        if (dev_id is not SensorNode n || n.alert_status == 0)
            return IRQ_NONE;
        return IRQ_WAKE_THREAD;
    }

    private irqreturn_t node_thread_fn(int irq_no, object? dev_id)
    {
        mutex_lock(scan_mutex); // ok: KH1001 near-miss: a thread_fn runs in process context
        count++;
        mutex_unlock(scan_mutex);
        schedule_work(rescan_work);
        return IRQ_HANDLED;
    }

    public void detach_line(uint line, SensorNode node) => free_irq(line, node); // ok: KH4002 near-miss: the same parameter names as attach_line's request

    // Surprise removal.
    public void force_detach(uint line, SensorNode node)
    {
        node.alert_status = 0;
        free_irq(line, this); // expect: KH4002 (line is requested with the node, freed with the table)
    }

    // Work item (process context).
    private void rescan()
    {
        mutex_lock(scan_mutex);
        int n = 0;
        rcu_read_lock();
        for (SensorNode? s = head; s != null; s = s.next)
            n++;
        rcu_read_unlock();
        msleep(10); // ok: KH1001 near-miss: the RCU section is closed before sleeping; only a mutex is held
        count = n;
        mutex_unlock(scan_mutex);
    }

    public int find_value(int node_id, out int val)
    {
        val = 0;
        rcu_read_lock(); // expect: KH2003 (RCU read section left open on the return inside the walk)
        for (SensorNode? n = head; n != null; n = n.next)
        {
            if (n.id == node_id)
            {
                val = n.value;
                return 0;
            }
        }
        rcu_read_unlock();
        return -ENOENT;
    }

    public int sum_thresholds()
    {
        int sum = 0;
        rcu_read_lock();
        for (SensorNode? n = head; n != null; n = n.next)
        {
            down_read(cfg_sem); // expect: KH1001 (down_read() may sleep inside an RCU read-side section)
            sum += n.threshold;
            up_read(cfg_sem);
        }
        rcu_read_unlock();
        return sum;
    }

    [MustHold("this.table_lock")]
    private SensorNode? lookup_locked(int node_id)
    {
        for (SensorNode? n = head; n != null; n = n.next)
            if (n.id == node_id) return n;
        return null;
    }

    public int read_node(int node_id, ulong ubuf)
    {
        read_lock(table_lock);
        SensorNode? n = lookup_locked(node_id);
        if (n == null)
        {
            read_unlock(table_lock);
            return -ENOENT;
        }
        int err = put_user(n.value, ubuf); // expect: KH1001 (put_user() may fault and sleep while table_lock is read-held)
        read_unlock(table_lock);
        return err;
    }

    public int count_above(int limit)
    {
        int c = 0;
        read_lock(table_lock);
        for (SensorNode? n = head; n != null; n = n.next)
            if (n.value > limit) c++;
        read_lock(table_lock); // ok: KH2003 near-miss: a read of an rwlock_t may nest in another read of it
        for (SensorNode? n = head; n != null; n = n.next)
            if (n.alert_status != 0) c++;
        read_unlock(table_lock);
        read_unlock(table_lock);
        return c;
    }

    public int poll_interval_for(int node_id)
    {
        down_read(cfg_sem);
        int ms = poll_ms;
        if (node_id < 0)
        {
            down_read(cfg_sem); // expect: KH2003 (down_read of cfg_sem nested in its own read hold: a queued writer deadlocks both)
            ms = poll_ms * 2;
            up_read(cfg_sem);
        }
        up_read(cfg_sem);
        return ms;
    }

    public int try_snapshot(out int ms)
    {
        ms = 0;
        if (down_read_trylock(cfg_sem) == 0)
        {
            up_read(cfg_sem); // expect: KH2003 (up_read of cfg_sem, which the failed trylock did not take)
            return -EBUSY;
        }
        ms = poll_ms;
        up_read(cfg_sem); // ok: KH2003 near-miss: releases what the successful trylock took
        return 0;
    }

    public void insert(SensorNode node)
    {
        write_lock(table_lock);
        node.next = head;
        head = node;
        count++;
        read_lock(table_lock); // expect: KH2003 (read_lock of table_lock under its own write hold deadlocks at once)
        int seen = 0;
        for (SensorNode? n = head; n != null; n = n.next)
            seen++;
        read_unlock(table_lock);
        write_unlock(table_lock);
        WARN_ON(seen != count);
    }

    public int calibrate(SensorNode node, int offset)
    {
        down(node.busy); // expect: KH2003 (node.busy not released on the -EINVAL return)
        if (offset > 100)
            return -EINVAL;
        node.threshold += offset;
        up(node.busy);
        return 0;
    }

    public int snapshot_values(int[] dst)
    {
        int i = 0;
        read_lock_irqsave(table_lock, out ulong flags);
        for (SensorNode? n = head; n != null && i < dst.Length; n = n.next)
            dst[i++] = n.value;
        read_unlock(table_lock); // expect: KH2004 (read_lock_irqsave released with read_unlock)
        return i;
    }

    public void reset_thresholds(int t)
    {
        write_lock_bh(table_lock);
        for (SensorNode? n = head; n != null; n = n.next)
            n.threshold = t;
        write_unlock(table_lock); // expect: KH2004 (write_lock_bh released with write_unlock)
    }

    public void rebalance()
    {
        write_lock_bh(table_lock);
        for (SensorNode? n = head; n != null; n = n.next)
        {
            n.threshold = n.value + 10;
            cond_resched(); // expect: KH1001 (cond_resched() may sleep with table_lock write-held)
        }
        write_unlock_bh(table_lock); // ok: KH2004 near-miss: write_lock_bh paired with write_unlock_bh
    }

    public void swap_values(SensorNode a, SensorNode b)
    {
        local_irq_save(out a.irq_flags);
        local_irq_save(out b.irq_flags);
        int t = a.value;
        a.value = b.value;
        b.value = t;
        local_irq_restore(a.irq_flags); // expect: KH2002 (restores crossed: a's flags restored before b's, saved later)
        local_irq_restore(b.irq_flags);
    }

    public void latch_pair(SensorNode a, SensorNode b)
    {
        local_irq_save(out ulong outer);
        a.alert_status = 0;
        local_irq_save(out ulong inner);
        b.alert_status = 0;
        local_irq_restore(inner); // ok: KH2002 near-miss: properly nested saves, the inner one restored first
        local_irq_restore(outer);
    }

    public int freeze(SensorNode n)
    {
        local_irq_disable(); // expect: KH2002 (interrupts left disabled on the -EBUSY return)
        if (n.alert_status != 0)
            return -EBUSY;
        n.threshold = 1 << 30;
        local_irq_enable();
        return 0;
    }
}
