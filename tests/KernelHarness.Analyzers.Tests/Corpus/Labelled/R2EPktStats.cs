// Per-CPU packet statistics with an RCU-read rule table, a hard-IRQ receive path, a tasklet and a work item.
// Control flow under test: preempt/irq-off regions across nested loops, do-while, gotos past the release,
// switch with goto default, try/finally; plus misordered cleanup labels and frees inside loops.
using KernelHarness;
using static KernelHarness.Kernel;

namespace Corpus.Labelled.R2EPktStats;

public sealed class PktStats
{
    private const int NR_RULES = 16, QLEN = 32, VERDICT_QUEUE = 0, VERDICT_DROP = 1, VERDICT_MIRROR = 2;

    private readonly spinlock_t q_lock = new();
    private readonly rwlock_t rules_lock = new();
    private readonly mutex cfg_mutex = new();
    private readonly tasklet_struct rx_tasklet = new();
    private readonly work_struct gc_work = new();
    private static readonly percpu<long> pkts = DEFINE_PER_CPU<long>();
    private static readonly percpu<long> drops = DEFINE_PER_CPU<long>();
    private readonly int[] rule_ids = new int[NR_RULES];
    private readonly int[] queue = new int[QLEN];
    private kptr rules = NULL, hash = NULL;
    private int q_len, nr_rules, hw_status;
    private bool per_cpu_mode;

    public int init(uint irq_line)
    {
        int err = -ENOMEM;
        kptr table = kcalloc(NR_RULES, 64, GFP_KERNEL);
        if (table == NULL)
            return -ENOMEM; // ok: KH3004 (table is NULL on this path and nothing else is allocated yet)
        kptr h = kzalloc(PAGE_SIZE, GFP_KERNEL);
        if (h == NULL)
            goto err_free_hash;
        tasklet_setup(rx_tasklet, rx_action);
        INIT_WORK(gc_work, w => gc_flows());
        err = request_irq(irq_line, pkt_isr, 0, "pktstats", this);
        if (err != 0)
            goto err_free_table;
        rules = table;
        hash = h;
        return 0;

    err_free_table:
        kfree(table);
    err_free_hash:
        kfree(h);
        return err; // expect: KH3004 (labels in the wrong order: when the hash allocation fails, 'goto err_free_hash' skips kfree(table))
    }

    private irqreturn_t pkt_isr(int irq_no, object? dev_id)
    {
        if (dev_id is not PktStats dev || dev.hw_status == 0)
            return IRQ_NONE;
        kptr pkt = kmalloc(128, GFP_ATOMIC); // ok: KH1002 (GFP_ATOMIC in the hard-IRQ handler)
        if (pkt == NULL)
            return IRQ_HANDLED;
        switch ((dev.hw_status >> 4) & 3) {
            case VERDICT_QUEUE:
                spin_lock(q_lock);
                queue[q_len++ % QLEN] = dev.hw_status;
                spin_unlock(q_lock);
                kfree(pkt);
                tasklet_schedule(rx_tasklet);
                break;
            case VERDICT_DROP:
                kfree(pkt);
                this_cpu_inc(drops);
                goto default;
            case VERDICT_MIRROR:
                kptr copy = kmalloc(128, GFP_KERNEL); // expect: KH1002 (GFP_KERNEL in the hard-IRQ handler)
                if (copy != NULL) {
                    memcpy(copy, pkt, 128);
                    kfree(copy);
                }
                kfree(pkt); // ok: KH3003 (the VERDICT_MIRROR path never went through the VERDICT_DROP free: disjoint paths)
                break;
            default:
                kfree(pkt); // expect: KH3003 (on the VERDICT_DROP path pkt was already freed before 'goto default')
                break;
        }
        return IRQ_HANDLED;
    }

    public int find_rule_pair(int a, int b)
    {
        rcu_read_lock(); // expect: KH2003 (the 'return 1' from the inner foreach leaves the RCU read-side section open)
        foreach (int x in rule_ids)
            foreach (int y in rule_ids)
                if (x == a && y == b)
                    return 1;
        rcu_read_unlock();
        return 0;
    }

    private void rx_action(tasklet_struct t)
    {
        int n = 0;
        do {
            spin_lock_irqsave(q_lock, out ulong flags);
            if (q_len == 0) {
                spin_unlock_irqrestore(q_lock, flags); // ok: KH2004 (the matching irqrestore before the break)
                break;
            }
            int v = queue[--q_len % QLEN];
            spin_unlock_irq(q_lock); // expect: KH2004 (q_lock was taken with spin_lock_irqsave; spin_unlock_irq discards the saved flags)
            account_packet(v);
        } while (++n < 8);
        if (n == 8)
            flush_work(gc_work); // expect: KH1001 (flush_work may sleep, and rx_action runs as a tasklet: softirq context)
    }

    private void account_packet(int v)
    {
        int cpu = get_cpu(); // ok: KH2001 (stats_put() releases it: the helper's summary is a put_cpu)
        per_cpu(pkts, cpu)++;
        if (v < 0)
            per_cpu(drops, cpu)++;
        stats_put();
    }

    private void stats_put() => put_cpu(); // ok: KH2001 (a releasing helper: its only caller calls it with get_cpu held)

    private void gc_flows()
    {
        kptr batch = kmalloc(PAGE_SIZE, GFP_KERNEL); // ok: KH1002 (work item: process context with nothing held)
        if (batch == NULL)
            return;
        mutex_lock(cfg_mutex); // ok: KH1001 (work item: process context may sleep)
        for (int i = 0; i < nr_rules; i++) {
            if (rule_ids[i] < 0) {
                kfree(batch);
                break;
            }
            ptr_ref<int>(batch + (ulong)(i * 4)) = rule_ids[i];
        }
        mutex_unlock(cfg_mutex);
        kfree(batch); // expect: KH3003 (when a negative rule id breaks the loop, batch was already freed inside it)
    }

    public int bucket_stats(int[] classes)
    {
        kptr hist = kzalloc(256, GFP_KERNEL);
        if (hist == NULL)
            return -ENOMEM;
        int cpu = get_cpu(); // expect: KH2001 (the 'return -ENOSPC' from the inner loop leaves preemption disabled)
        foreach (int c in classes) {
            for (int shift = 0; shift < 32; shift += 8) {
                int b = (c >> shift) & 0xFF;
                if (b >= 64)
                    return -ENOSPC; // expect: KH3004 (hist leaks on this return from the inner loop)
                ptr_ref<int>(hist + (ulong)(b * 4)) += (int)per_cpu(pkts, cpu);
            }
        }
        put_cpu();
        kfree(hist);
        return 0;
    }

    public int first_busy_slot()
    {
        int i;
        for (i = 0; i < QLEN; i++) {
            preempt_disable(); // expect: KH2001 (the 'break' on a busy slot skips preempt_enable)
            if (queue[i] != 0)
                break;
            this_cpu_inc(pkts);
            preempt_enable();
        }
        return i < QLEN ? i : -1;
    }

    public long sum_rounds(int rounds)
    {
        long sum = 0;
        int r = 0, cpu = get_cpu();
        do {
            sum += per_cpu(pkts, cpu) - per_cpu(drops, cpu);
            put_cpu(); // expect: KH2001 (put_cpu inside the do-while: from the second round on there is nothing to undo)
        } while (++r < rounds);
        return sum;
    }

    public long read_counter(int cpu_hint)
    {
        if (per_cpu_mode)
            cpu_hint = get_cpu();
        long v = per_cpu(pkts, cpu_hint);
        put_cpu(); // expect: KH2001 (when per_cpu_mode is false get_cpu was never called: put_cpu has nothing to undo)
        return v;
    }

    public int clear_local(int mask)
    {
        int ret = -EINVAL;
        int cpu = get_cpu(); // expect: KH2001 (the 'goto done' jumps past put_cpu: preemption stays disabled on that path)
        if ((mask & 1) == 0)
            goto done;
        per_cpu(pkts, cpu) = 0;
        ret = 0;
        put_cpu();
    done:
        return ret;
    }

    public int clear_local_v2(int mask)
    {
        int ret = -EINVAL;
        int cpu = get_cpu(); // ok: KH2001 (the 'done' label sits before put_cpu, so both paths release)
        if ((mask & 1) == 0)
            goto done;
        per_cpu(pkts, cpu) = 0;
        ret = 0;
    done:
        put_cpu();
        return ret;
    }

    public int bump_local(long n)
    {
        ref long ctr = ref get_cpu_var(pkts); // ok: KH2001 (put_cpu_var in the finally runs on both returns)
        try {
            if (n < 0)
                return -EINVAL;
            ctr += n;
            return 0;
        } finally {
            put_cpu_var(pkts);
        }
    }

    public int set_mode(int op)
    {
        int ret = 0;
        local_irq_save(out ulong flags); // expect: KH2002 (the 'return -EINVAL' of the default case leaves interrupts disabled)
        switch (op) {
        case 0:
        case 1:
            per_cpu_mode = op == 1;
            break;
        case 2:
            q_len = 0;
            local_irq_enable(); // expect: KH2002 (local_irq_enable inside the local_irq_save region of set_mode)
            ret = 1;
            break;
        default:
            return -EINVAL;
        }
        local_irq_restore(flags);
        return ret;
    }

    public int drain_irqoff(int max)
    {
        int done = 0;
        local_irq_disable(); // expect: KH2002 (the 'return -EIO' inside the nested if leaves interrupts disabled)
        while (done < max && q_len > 0) {
            int v = queue[--q_len % QLEN];
            if (v < 0) {
                if (hw_status < 0)
                    return -EIO;
                continue;
            }
            if (++done % 8 == 0)
                cond_resched(); // expect: KH1001 (cond_resched may schedule, but interrupts are disabled by local_irq_disable here)
        }
        local_irq_enable();
        return done;
    }

    public int snapshot_queue(int[] dst)
    {
        int n = -ENOSPC;
        local_irq_save(out ulong flags); // expect: KH2002 (the 'goto done' on an oversized queue jumps past local_irq_restore)
        if (q_len > dst.Length)
            goto done;
        for (n = 0; n < q_len; n++)
            dst[n] = queue[n % QLEN];
        local_irq_restore(flags);
    done:
        return n;
    }

    private long read_queue_len()
    {
        local_irq_save(out ulong f);
        long v = q_len;
        local_irq_restore(f); // ok: KH2002 (properly nested inside the caller's save: the inner flags are restored first)
        return v;
    }

    public long snapshot_local()
    {
        local_irq_save(out ulong outer); // ok: KH2002 (restored last, after the nested save/restore in read_queue_len)
        int cpu = get_cpu(); // ok: KH2001 (put_cpu comes before the restore on the only path)
        long v = per_cpu(pkts, cpu) + read_queue_len();
        put_cpu();
        local_irq_restore(outer);
        return v;
    }

    public int rule_op(int op, int idx, int id)
    {
        int ret = 0;
        if (idx < 0 || idx >= NR_RULES) {
            ret = -EINVAL;
            goto out_unlock;
        }
        write_lock_bh(rules_lock);
        switch (op) {
        case 0:
            rule_ids[idx] = id;
            break;
        case 1:
            rule_ids[idx] = -rule_ids[idx];
            write_unlock(rules_lock); // expect: KH2004 (rules_lock was taken with write_lock_bh and released with write_unlock)
            return 0;
        default:
            ret = -ENOSYS;
            break;
        }
    out_unlock:
        write_unlock_bh(rules_lock); // expect: KH2003 (the bad-index path jumps here before rules_lock is taken: release of a lock not held)
        return ret;
    }

    public int load_rules(ulong user_src, int count)
    {
        if (count <= 0 || count > NR_RULES)
            return -EINVAL;
        kptr chunk = kmalloc(64, GFP_KERNEL);
        if (chunk == NULL)
            return -ENOMEM; // ok: KH3004 (chunk is NULL on this path)
        int err = mutex_lock_interruptible(cfg_mutex); // ok: KH2003 (on a non-zero result the mutex is not held, so the early return leaks no lock)
        if (err != 0)
            return err; // expect: KH3004 (chunk leaks when the lock wait is interrupted)
        int i = 0;
        do {
            if (copy_from_user(chunk, user_src + (ulong)(i * 64), 64) != 0) {
                mutex_unlock(cfg_mutex);
                return -EFAULT; // expect: KH3004 (chunk leaks on this return from inside the do-while)
            }
            rule_ids[i] = ptr_ref<int>(chunk);
        } while (++i < count);
        nr_rules = count;
        mutex_unlock(cfg_mutex);
        kfree(chunk);
        return 0;
    }
}
