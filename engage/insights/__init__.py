"""Insights: who is kept in touch with and who is slipping away, as reports with
charts, turned into work lists.

::

    flt = parse_report_filter(request.query_params)     # filters: dates and scope
    await contact_coverage(flt, actor=attache, by="region")          # coverage
    await lapsed_report(flt, actor=attache, months=18)              # lapsed
    await save_lapsed_segment(flt, "never_contacted", "To call", actor=attache)
    await event_funnel(flt, actor=attache)                          # funnel
    await career_outcomes(flt, actor=staff, by="course")            # careers
    await capability_lookup(flt, actor=staff, tag="C-130")          # capabilities
    bar_chart(...)                                                  # charts: SVG geometry

Every report counts the report's people (live, confirmed alumni in the actor's scope:
staff everyone, attachés the countries their embassies are accredited to) with
aggregating SQL over indexed columns (the summary columns
``Alumnus.last_contacted_at`` / ``last_engaged_at`` kept by
``engage.alumni.engagement``, the engagement lines, invitations, careers, training),
never a loop over people. Lists that can become a saved segment are filters of the
shared audience filter (``engage.alumni.audience``).
"""
